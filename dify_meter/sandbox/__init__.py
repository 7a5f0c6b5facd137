"""Simulators of Dify and API_Meter for tests, benchmarks and the demo."""
