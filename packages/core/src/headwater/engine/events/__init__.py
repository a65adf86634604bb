"""Event triggers at run time: sources that watch files, assets, webhooks and NOTIFY, and their coordinator."""
