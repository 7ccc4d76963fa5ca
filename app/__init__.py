"""The app's screen helpers, shared by the pages in app_pages/ (Streamlit; the logic is in tracker/)."""
