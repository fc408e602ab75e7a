"""The job types a fresh Jobtower offers: importing this module registers them."""

from jobtower.job_types import (  # noqa: F401
    ai_embedding_batch,
    bulk_message_send,
    campaign_run,
    campaign_sequence,
    contact_sync,
    data_import,
    ledger_close,
    noop,
    renewal_reminders,
    scheduled_report,
    system_prune,
)
