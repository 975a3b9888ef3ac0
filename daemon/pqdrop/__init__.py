"""pqdrop: watch a folder, post what lands in it through the PostQued API."""
