"""What endpoints receive from the running app (built once in the lifespan), as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tollhouse.dashboard.analytics import AnalyticsReader
from tollhouse.dashboard.keystore import KeyStore
from tollhouse.dashboard.publish import Publisher
from tollhouse.dashboard.settings import DashboardSettings
from tollhouse.dashboard.store import Store
from tollhouse.dashboard.throttle import LoginThrottle


def _settings(request: Request) -> DashboardSettings:
    return request.app.state.settings


def _store(request: Request) -> Store:
    return request.app.state.store


def _publisher(request: Request) -> Publisher:
    return request.app.state.publisher


def _keys(request: Request) -> KeyStore:
    return request.app.state.keys


def _analytics(request: Request) -> AnalyticsReader:
    return request.app.state.analytics


def _throttle(request: Request) -> LoginThrottle:
    return request.app.state.throttle


SettingsDep = Annotated[DashboardSettings, Depends(_settings)]
StoreDep = Annotated[Store, Depends(_store)]
PublisherDep = Annotated[Publisher, Depends(_publisher)]
KeyStoreDep = Annotated[KeyStore, Depends(_keys)]
AnalyticsDep = Annotated[AnalyticsReader, Depends(_analytics)]
ThrottleDep = Annotated[LoginThrottle, Depends(_throttle)]
