"""The manager's page: a signed personal link per session, served by `coachpass serve`.

- `tokens`: the link token (HMAC-SHA256, key id, expiry), pure.
- `keys`: the signing keys from the secret store (current + previous).
- `links`: the URL of a session's page for its manager.
- `app`, `page`, `forms`, `server`: the WSGI app on the standard library's server.
- `notices`, `due`, `mails`, `texts`: the "sessions booked" and reminder e-mails,
  each claimed in the store before it is sent (never twice), in sv or en.
- `requests`: "ask for a new time", recorded by the page and performed by the leader.
"""
