//! `/api/profiles/{username}` and following.

use axum::Json;
use axum::extract::{Path, State};
use quire_core::ports::Store;

use super::dto::ProfileBody;
use crate::AppState;
use crate::caching::Caching;
use crate::error::ApiError;
use crate::extract::{CurrentUser, MaybeUser};

pub(crate) async fn get<S: Store>(
    State(state): State<AppState<S>>,
    viewer: MaybeUser,
    Path(username): Path<String>,
) -> Result<(Caching, Json<ProfileBody>), ApiError> {
    let profile = state.quire.profile_shown(&username, viewer.actor()).await?;
    let caching = Caching::of(viewer.actor().is_some(), &profile);
    Ok((
        caching,
        Json(ProfileBody {
            profile: profile.value.into(),
        }),
    ))
}

pub(crate) async fn follow<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileBody>, ApiError> {
    let profile = state.quire.follow(&current.actor, &username).await?;
    Ok(Json(ProfileBody {
        profile: profile.into(),
    }))
}

pub(crate) async fn unfollow<S: Store>(
    State(state): State<AppState<S>>,
    current: CurrentUser,
    Path(username): Path<String>,
) -> Result<Json<ProfileBody>, ApiError> {
    let profile = state.quire.unfollow(&current.actor, &username).await?;
    Ok(Json(ProfileBody {
        profile: profile.into(),
    }))
}
