"""The publish stage (``stage``) and its helpers: the durable event log and its replay
endpoint (``eventlog``) and the filter that drops events a re-read publishes again
(``replay_filter``)."""
