"""Access tokens: issue, reuse, expiry on the sandbox clock, extension, and 401 forms."""

from dashboard.iamport.sandbox import DEFAULT_IMP_KEY, DEFAULT_IMP_SECRET, create_sandbox_app

CREDENTIALS = {"imp_key": DEFAULT_IMP_KEY, "imp_secret": DEFAULT_IMP_SECRET}
UNAUTHORIZED = {"code": -1, "message": "Unauthorized", "response": None}


def get_token(api, **kwargs):
    response = api.post("/users/getToken", auth=False, **kwargs)
    assert response.status_code == 200
    return response.json()["response"]


def test_token_lives_thirty_minutes_and_is_reused_while_valid(api, state):
    first = get_token(api, json=CREDENTIALS)
    assert first["expired_at"] - first["now"] == 1800
    assert abs(first["now"] - state.now()) <= 1

    state.advance(600)
    second = get_token(api, data=CREDENTIALS)  # form-encoded works too

    assert second["access_token"] == first["access_token"]
    assert second["expired_at"] == first["expired_at"]


def test_token_requested_in_its_last_minute_is_extended_by_five_minutes(api, state):
    first = get_token(api, json=CREDENTIALS)
    state.set_now(first["expired_at"] - 30)

    extended = get_token(api, json=CREDENTIALS)

    assert extended["access_token"] == first["access_token"]
    assert extended["expired_at"] == first["expired_at"] + 300
    assert get_token(api, json=CREDENTIALS)["expired_at"] == extended["expired_at"]


def test_expired_token_is_refused_and_a_new_one_issued(api, state):
    first = get_token(api, json=CREDENTIALS)
    state.set_now(first["expired_at"])

    refused = api.get("/payments/imp_000000000000", auth=first["access_token"])
    renewed = get_token(api, json=CREDENTIALS)

    assert refused.status_code == 401
    assert refused.json() == UNAUTHORIZED
    assert renewed["access_token"] != first["access_token"]
    assert renewed["expired_at"] == renewed["now"] + 1800


def test_bearer_and_bare_authorization_headers_are_both_accepted(api):
    token = get_token(api, json=CREDENTIALS)["access_token"]

    for header in (f"Bearer {token}", token):
        response = api.get("/payments/imp_000000000000", auth=header)
        assert response.status_code == 404  # authenticated: the payment just does not exist


def test_missing_or_unknown_token_answers_401_envelope(api):
    for auth in (False, "Bearer not-a-token", "not-a-token"):
        response = api.get("/subscribe/customers/anyone", auth=auth)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED


def test_wrong_credentials_answer_401_and_missing_ones_400(api):
    wrong = api.post("/users/getToken", auth=False,
                     json={"imp_key": DEFAULT_IMP_KEY, "imp_secret": "wrong"})
    wrong_key = api.post("/users/getToken", auth=False,
                         json={"imp_key": "other_key", "imp_secret": DEFAULT_IMP_SECRET})
    missing = api.post("/users/getToken", auth=False, data={"imp_key": DEFAULT_IMP_KEY})
    empty = api.post("/users/getToken", auth=False, json={})

    assert wrong.status_code == wrong_key.status_code == 401
    assert wrong.json()["code"] == -1
    for answer in (missing, empty):
        assert answer.status_code == 400  # on record: not a 401
        assert answer.json() == {"code": -1, "response": None,
                                 "message": "imp_key, imp_secret 파라메터가 누락되었습니다."}


def test_the_key_matches_in_any_letter_case_and_the_secret_exactly():
    app = create_sandbox_app("imp_apikey", "merchant_secret")
    client = app.test_client()

    for spelling in ("imp_apikey", "imp_apiKey", "IMP_APIKEY"):
        answer = client.post("/users/getToken",
                             json={"imp_key": spelling, "imp_secret": "merchant_secret"})
        assert answer.status_code == 200, spelling
    assert client.post("/users/getToken", json={"imp_key": "imp_apikey",
                                                "imp_secret": "MERCHANT_SECRET"}).status_code == 401


def test_the_token_is_accepted_in_x_imp_token_header(api):
    token = get_token(api, json=CREDENTIALS)["access_token"]

    accepted = api.get("/payments/imp_000000000000", auth=False,
                       headers={"X-ImpTokenHeader": token})
    refused = api.get("/payments/imp_000000000000", auth=False,
                      headers={"X-ImpTokenHeader": "not-a-token"})

    assert accepted.status_code == 404  # authenticated: the payment just does not exist
    assert (refused.status_code, refused.json()) == (401, UNAUTHORIZED)


def test_only_the_configured_credentials_are_accepted():
    app = create_sandbox_app("merchant_key", "merchant_secret")
    client = app.test_client()

    assert client.post("/users/getToken", json=CREDENTIALS).status_code == 401
    accepted = client.post("/users/getToken",
                           json={"imp_key": "merchant_key", "imp_secret": "merchant_secret"})
    assert accepted.status_code == 200
