"""Teaching: the lessons, running them in a terminal, their notebooks, and the pictures and studies they show."""
