"""The face mesh: MediaPipe's face landmark (468 points) and iris models in numpy + TFLite.

`FaceMesh.load(FaceMeshOptions(...))`, then `mesh.find(rgb, roi)` for a face inside a rotated
rect (`roi_from_detection` for a face detector's box and eyes, `roi_from_landmarks` to track
it into the next frame). A body part: it knows no face detector, no request and no gesture.
"""
