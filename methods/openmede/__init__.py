"""Open-MeDe: cross-batch meta-optimization with Gaussian weight averaging."""
