namespace shoal::engine {}
