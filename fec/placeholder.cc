namespace shoal::fec {}
