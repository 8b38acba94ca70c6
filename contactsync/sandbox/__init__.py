"""Loopback HTTP emulators of the Google People API, Microsoft Graph and Pipedrive."""
