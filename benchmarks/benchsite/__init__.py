"""Django settings of the benchmark harness, one module for every implementation and database."""
