"""What people read: metric tables for the terminal, plots, and finished runs read back from
their run directories. Pure functions of dicts and files: no model, no torch."""
