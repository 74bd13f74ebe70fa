"""The three signals. Receivers: ``def r(sender, objects, tracking_info_=None, using=None, **kwargs)``.

``objects`` is a list of :class:`~bulk_tracker.helper_objects.ModifiedObject`; ``using`` is the
database alias that did the write. Each is sent once per operation and model, after commit.
"""

from django.dispatch import Signal

post_create_signal = Signal()
post_update_signal = Signal()
post_delete_signal = Signal()

__all__ = ["post_create_signal", "post_delete_signal", "post_update_signal"]
