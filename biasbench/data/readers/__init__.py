"""Dataset readers, one module per official annotation format."""
