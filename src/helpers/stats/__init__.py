"""Statistics layer: estimators over frames or counts; imports only the data layer and the base modules."""
