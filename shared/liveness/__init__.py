"""Liveness for verify_face: a signed challenge of head and eye actions, checked on a burst of frames.

`token.py` issues and checks the stateless challenge (HMAC-signed, expiring, used once with
Redis); `measures.py` reads head yaw, pitch and the eyes' aspect ratio from the face mesh;
`judge.py` decides whether a burst performed the challenge with one face throughout;
`service.py` is the request shape on top of shared/face/service.py.
"""
