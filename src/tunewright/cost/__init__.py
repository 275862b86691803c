"""Cost: FLOPs, GPU memory, hardware and prices, time, and the whole project's lifecycle cost."""
