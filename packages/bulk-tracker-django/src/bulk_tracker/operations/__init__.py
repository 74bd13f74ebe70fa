"""One operation object per kind of write: the phases of ``base.Operation``, one module each."""
