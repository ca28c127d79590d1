"""Reports read run records only: tables, plots, t-SNE, leaderboard."""
