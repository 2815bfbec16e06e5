"""Network helpers that sit below everything else: the outbound guard (:mod:`.outbound`)."""
