"""The teaching loop: talking with models and turning what they say into training data.

``chat_turn`` asks one or more models a question in a stored conversation (the Chat room
and ``nastavnik chat`` share it); ``corrections`` turns a corrected answer into a pair and a
preference; ``drafting`` lets a teacher model write draft pairs.
"""
