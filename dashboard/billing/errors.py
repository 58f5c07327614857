"""Named errors the billing services raise; views and commands translate them in one place.

Their names never repeat the client's (``iamport.errors``): a billing error says what
happened to the action, a client error what happened to one HTTP request.

Every message is safe to show to staff: it never carries card data, tokens or secrets.
"""


class BillingError(Exception):
    """Base class: a billing action could not be carried out as asked."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class RecordNotFound(BillingError):
    """The customer, subscription, schedule or payment does not exist."""


class InvalidState(BillingError):
    """The action does not apply to the record in its current state."""


class InvalidInput(BillingError):
    """A value given to the action breaks a rule (amount, time, length)."""


class NotRefundable(BillingError):
    """The refund is larger than what is left to refund, or the payment was never paid."""

    def __init__(self, message: str, *, refundable: int = 0):
        self.refundable = refundable
        super().__init__(message)


class ScheduleInPast(InvalidInput):
    """A schedule time must lie in the future."""


class ChargeInProgress(BillingError):
    """An earlier charge for the same period has an unknown outcome; resolve it first."""


class AnswerLost(BillingError):
    """iamport's answer was lost; the record stays pending until sync asks iamport."""


class IamportRefused(BillingError):
    """iamport refused the request; nothing was done there."""


class IamportUnreachable(BillingError):
    """iamport could not be reached; nothing was changed."""
