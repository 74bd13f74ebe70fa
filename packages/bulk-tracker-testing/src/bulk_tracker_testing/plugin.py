"""pytest plugin entry point of bulk-tracker-testing (fixtures arrive with the testing issue)."""
