"""Data: single images (kept on the device) and image collections."""
