# A module both sites import: a global set by one site must not be seen by
# the other (each application group is its own interpreter).
value = None
