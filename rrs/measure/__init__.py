"""The measurement core, torch-free: refusal labels, rates and their intervals, drift, response quality, and the
scaling tables and fits (s50, auc, robustness, the log-size fit)."""
