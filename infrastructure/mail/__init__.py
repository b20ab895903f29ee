"""Mail both ways (issue 30): reminders by e-mail, drafts sent from the case, replies read
from a mailbox. ``store.py`` keeps what must survive a failover (each user's settings,
each mail sent), ``smtp.py`` sends, ``digest.py`` writes the daily digest and
``outbox.py`` is the follower that sends, run beside the store's writer."""
