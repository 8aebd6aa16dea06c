"""The episode use-cases (create, replace, add items, apply an EHR edit, and the reads the views need) on a
repository port (``ports.py``) that ``service/store`` implements. No Flask, no SQLAlchemy."""
