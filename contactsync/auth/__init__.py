"""Sign-ins (Google installed-app flow, MSAL device code) and where their secrets are kept."""

# The fix of a sign-in that failed while the user was at it (add-account or reconnect).
SIGN_IN_AGAIN = "sign in again: run the same command (add-account or reconnect)"
