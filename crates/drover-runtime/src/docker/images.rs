//! The Engine API calls of the demo's image build and cleanup, which speak to Docker about
//! images and about containers that only *look* like a fleet's (by label or by image) rather
//! than about a fleet's own slots: an image's id and labels, removing an image, and the
//! containers wearing a label or made from an image, with what identifies them.
//!
//! Invariant: like the rest of the adapter, nothing of bollard leaves this module; a 404 (or,
//! for the image filter, a 400) is "nothing there", never an error.

use std::collections::HashMap;

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, RemoveImageOptionsBuilder,
};

use super::Docker;
use crate::port::RuntimeError;

/// An image as the demo identifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    pub id: String,
    pub labels: HashMap<String, String>,
}

/// A container as the demo's cleanup identifies it: by name, labels and mounted sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerFacts {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub labels: HashMap<String, String>,
    /// Host paths (or volume names) of its mounts.
    pub mount_sources: Vec<String>,
}

impl Docker {
    /// The id and labels of image `tag`, or `None` if there is no such image.
    pub async fn image_facts(&self, tag: &str) -> Result<Option<ImageFacts>, RuntimeError> {
        match self.api.inspect_image(tag).await {
            Ok(img) => Ok(Some(ImageFacts {
                id: img.id.unwrap_or_default(),
                labels: img.config.and_then(|c| c.labels).unwrap_or_default(),
            })),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Removes image `name` (a tag or id); `force` also untags it from every other tag.
    pub async fn remove_image(&self, name: &str, force: bool) -> Result<(), RuntimeError> {
        let opts = force.then(|| RemoveImageOptionsBuilder::default().force(true).build());
        self.api
            .remove_image(name, opts, None)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Every container (any state) matching the label filter `label` (`key` or `key=value`),
    /// inspected; one gone between the listing and its inspection is left out.
    pub async fn containers_labelled(
        &self,
        label: &str,
    ) -> Result<Vec<ContainerFacts>, RuntimeError> {
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&HashMap::from([("label", vec![label])]))
            .build();
        let list = self
            .api
            .list_containers(Some(opts))
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for c in list {
            let Some(id) = c.id else { continue };
            let info = match self
                .api
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await
            {
                Ok(i) => i,
                Err(BollardError::DockerResponseServerError {
                    status_code: 404, ..
                }) => continue,
                Err(e) => return Err(self.err(e)),
            };
            out.push(ContainerFacts {
                id,
                name: info
                    .name
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                labels: info.config.and_then(|c| c.labels).unwrap_or_default(),
                mount_sources: info
                    .mounts
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|m| m.source)
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Names of the containers (any fleet, any state) created from `image`; none when the
    /// image is unknown (the engine refuses the filter then).
    pub async fn containers_from_image(&self, image: &str) -> Result<Vec<String>, RuntimeError> {
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&HashMap::from([("ancestor", vec![image])]))
            .build();
        let list = match self.api.list_containers(Some(opts)).await {
            Ok(l) => l,
            Err(BollardError::DockerResponseServerError {
                status_code: 400 | 404,
                ..
            }) => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        Ok(list
            .into_iter()
            .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
            .map(|n| n.trim_start_matches('/').to_string())
            .collect())
    }
}
