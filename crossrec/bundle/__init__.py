"""The shipped model as one thing: its parts, its persisted config, how it is assembled and
selected on the cold validation users, saved, loaded and asked for recommendations."""
