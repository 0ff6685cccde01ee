"""The dashboard: the front end's static export, served at `/` by the API server."""
