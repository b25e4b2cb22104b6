"""Tasks decide what is observed of a grid signal of any dimension (the training cells) and what is evaluated."""
