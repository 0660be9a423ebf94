"""The decision half: ending the cases of the deceased (应退尽退), and (coming) applications
and their steps, households, reviews, data comparison with other departments, complaints."""
