"""Data, models, training and evaluation for emorig's speech -> emotion -> rig networks."""
