"""The console's worklist pages: a "Next page" link until every order was shown, each once."""

from __future__ import annotations

import re
from urllib.parse import unquote

from tests.helpers.lists import many_orders


def test_the_consoles_worklist_links_to_its_next_page_until_every_order_was_shown(rt, browser):
    ids = many_orders(rt, 450)
    staff, shown, params, pages = browser("staff-key"), [], {"target": "wiki", "state": "Transmitted"}, 0
    while True:
        response = staff.get("console_worklist", "worklist", params=params)
        assert response.status_code == 200
        body = response.get_body().decode()
        shown += re.findall(r'name="ids" value="([^"]+)" form="bulk"', body)
        pages += 1
        link = re.search(r'href="[^"]*next=([^"&]+)">Next page</a>', body)
        if link is None:
            break
        params = {**params, "next": unquote(link.group(1))}
    assert shown == ids and pages == 3
    forged = staff.get("console_worklist", "worklist", params={**params, "next": "forged"})
    assert forged.status_code == 400
