"""Server-rendered pages for people in the field (the phone-friendly incident form)."""
