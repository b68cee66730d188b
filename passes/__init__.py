"""gradgen's passes over :class:`ir.kernel.Kernel` and the manager that runs them."""
