"""gradgen's intermediate representation: operations, expressions, SSA kernels and their tools."""
