"""Local stand-ins for cloud services: the schedule-expression scheduler and friends."""
