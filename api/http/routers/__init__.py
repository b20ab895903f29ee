"""One router per part of the API and the case book."""
