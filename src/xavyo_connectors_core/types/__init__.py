"""Built-in connector types; drivers are imported inside each module."""
