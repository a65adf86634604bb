"""headwater-email: alerts as email and an ``email.send`` operator, over SMTP (stdlib smtplib)."""
