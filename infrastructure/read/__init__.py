"""The read side: queries over the projections, the reports' sources, reminders,
timeliness, and how deadlines read in words."""
