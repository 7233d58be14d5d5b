namespace shoal::control {}
