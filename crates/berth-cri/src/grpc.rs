//! The gRPC services: each RPC unwraps its request, calls the CRI service, and wraps the
//! answer; what berth does not do is Unimplemented with a reason.

use crate::proto::image_service_server::ImageService;
use crate::proto::runtime_service_server::RuntimeService;
use crate::proto::*;
use crate::service::Cri;
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

type Reply<T> = Result<Response<T>, Status>;
type Streamed<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The CRI version berth speaks.
pub const CRI_API_VERSION: &str = "v1";

#[derive(Clone)]
pub struct Grpc(pub Arc<Cri>);

fn ok<T>(v: T) -> Reply<T> {
    Ok(Response::new(v))
}

fn once<T: Send + 'static>(v: T) -> Streamed<T> {
    Box::pin(tokio_stream::once(Ok(v)))
}

fn unimplemented(what: &str, why: &str) -> Status {
    Status::unimplemented(format!("{what} is not implemented by berth: {why}"))
}

#[tonic::async_trait]
impl RuntimeService for Grpc {
    async fn version(&self, _r: Request<VersionRequest>) -> Reply<VersionResponse> {
        ok(VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "berth".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            runtime_api_version: CRI_API_VERSION.into(),
        })
    }

    async fn run_pod_sandbox(
        &self,
        r: Request<RunPodSandboxRequest>,
    ) -> Reply<RunPodSandboxResponse> {
        let r = r.into_inner();
        let cfg = r
            .config
            .ok_or_else(|| Status::invalid_argument("RunPodSandbox needs a config"))?;
        let id = self.0.run_pod_sandbox(cfg, r.runtime_handler).await?;
        ok(RunPodSandboxResponse { pod_sandbox_id: id })
    }

    async fn stop_pod_sandbox(
        &self,
        r: Request<StopPodSandboxRequest>,
    ) -> Reply<StopPodSandboxResponse> {
        self.0
            .stop_pod_sandbox(&r.into_inner().pod_sandbox_id)
            .await?;
        ok(StopPodSandboxResponse {})
    }

    async fn remove_pod_sandbox(
        &self,
        r: Request<RemovePodSandboxRequest>,
    ) -> Reply<RemovePodSandboxResponse> {
        self.0
            .remove_pod_sandbox(&r.into_inner().pod_sandbox_id)
            .await?;
        ok(RemovePodSandboxResponse {})
    }

    async fn pod_sandbox_status(
        &self,
        r: Request<PodSandboxStatusRequest>,
    ) -> Reply<PodSandboxStatusResponse> {
        let r = r.into_inner();
        ok(self
            .0
            .pod_sandbox_status(&r.pod_sandbox_id, r.verbose)
            .await?)
    }

    async fn list_pod_sandbox(
        &self,
        r: Request<ListPodSandboxRequest>,
    ) -> Reply<ListPodSandboxResponse> {
        ok(ListPodSandboxResponse {
            items: self.0.list_pod_sandbox(r.into_inner().filter).await,
        })
    }

    type StreamPodSandboxesStream = Streamed<StreamPodSandboxesResponse>;
    async fn stream_pod_sandboxes(
        &self,
        r: Request<StreamPodSandboxesRequest>,
    ) -> Reply<Self::StreamPodSandboxesStream> {
        let items = self.0.list_pod_sandbox(r.into_inner().filter).await;
        ok(once(StreamPodSandboxesResponse {
            pod_sandboxes: items,
        }))
    }

    async fn create_container(
        &self,
        r: Request<CreateContainerRequest>,
    ) -> Reply<CreateContainerResponse> {
        let r = r.into_inner();
        let cfg = r
            .config
            .ok_or_else(|| Status::invalid_argument("CreateContainer needs a config"))?;
        let id = self.0.create_container(&r.pod_sandbox_id, cfg).await?;
        ok(CreateContainerResponse { container_id: id })
    }

    async fn start_container(
        &self,
        r: Request<StartContainerRequest>,
    ) -> Reply<StartContainerResponse> {
        self.0.start_container(&r.into_inner().container_id).await?;
        ok(StartContainerResponse {})
    }

    async fn stop_container(
        &self,
        r: Request<StopContainerRequest>,
    ) -> Reply<StopContainerResponse> {
        let r = r.into_inner();
        self.0.stop_container(&r.container_id, r.timeout).await?;
        ok(StopContainerResponse {})
    }

    async fn remove_container(
        &self,
        r: Request<RemoveContainerRequest>,
    ) -> Reply<RemoveContainerResponse> {
        self.0
            .remove_container(&r.into_inner().container_id)
            .await?;
        ok(RemoveContainerResponse {})
    }

    async fn list_containers(
        &self,
        r: Request<ListContainersRequest>,
    ) -> Reply<ListContainersResponse> {
        ok(ListContainersResponse {
            containers: self.0.list_containers(r.into_inner().filter),
        })
    }

    type StreamContainersStream = Streamed<StreamContainersResponse>;
    async fn stream_containers(
        &self,
        r: Request<StreamContainersRequest>,
    ) -> Reply<Self::StreamContainersStream> {
        let containers = self.0.list_containers(r.into_inner().filter);
        ok(once(StreamContainersResponse { containers }))
    }

    async fn container_status(
        &self,
        r: Request<ContainerStatusRequest>,
    ) -> Reply<ContainerStatusResponse> {
        let r = r.into_inner();
        ok(self.0.container_status(&r.container_id, r.verbose)?)
    }

    async fn update_container_resources(
        &self,
        r: Request<UpdateContainerResourcesRequest>,
    ) -> Reply<UpdateContainerResourcesResponse> {
        let r = r.into_inner();
        self.0
            .update_container_resources(&r.container_id, r.linux, r.windows.is_some())
            .await?;
        ok(UpdateContainerResourcesResponse {})
    }

    async fn reopen_container_log(
        &self,
        r: Request<ReopenContainerLogRequest>,
    ) -> Reply<ReopenContainerLogResponse> {
        self.0
            .reopen_container_log(&r.into_inner().container_id)
            .await?;
        ok(ReopenContainerLogResponse {})
    }

    async fn exec_sync(&self, r: Request<ExecSyncRequest>) -> Reply<ExecSyncResponse> {
        let r = r.into_inner();
        ok(self.0.exec_sync(&r.container_id, r.cmd, r.timeout).await?)
    }

    async fn exec(&self, r: Request<ExecRequest>) -> Reply<ExecResponse> {
        let url = self.0.exec_url(r.into_inner())?;
        ok(ExecResponse { url })
    }

    async fn attach(&self, r: Request<AttachRequest>) -> Reply<AttachResponse> {
        let url = self.0.attach_url(r.into_inner())?;
        ok(AttachResponse { url })
    }

    async fn port_forward(&self, r: Request<PortForwardRequest>) -> Reply<PortForwardResponse> {
        let url = self.0.port_forward_url(r.into_inner()).await?;
        ok(PortForwardResponse { url })
    }

    async fn container_stats(
        &self,
        r: Request<ContainerStatsRequest>,
    ) -> Reply<ContainerStatsResponse> {
        ok(ContainerStatsResponse {
            stats: Some(self.0.stats_of(&r.into_inner().container_id)?),
        })
    }

    async fn list_container_stats(
        &self,
        r: Request<ListContainerStatsRequest>,
    ) -> Reply<ListContainerStatsResponse> {
        ok(ListContainerStatsResponse {
            stats: self.0.list_stats(r.into_inner().filter),
        })
    }

    type StreamContainerStatsStream = Streamed<StreamContainerStatsResponse>;
    async fn stream_container_stats(
        &self,
        r: Request<StreamContainerStatsRequest>,
    ) -> Reply<Self::StreamContainerStatsStream> {
        let container_stats = self.0.list_stats(r.into_inner().filter);
        ok(once(StreamContainerStatsResponse { container_stats }))
    }

    async fn pod_sandbox_stats(
        &self,
        r: Request<PodSandboxStatsRequest>,
    ) -> Reply<PodSandboxStatsResponse> {
        ok(PodSandboxStatsResponse {
            stats: Some(
                self.0
                    .pod_sandbox_stats(&r.into_inner().pod_sandbox_id)
                    .await?,
            ),
        })
    }

    async fn list_pod_sandbox_stats(
        &self,
        r: Request<ListPodSandboxStatsRequest>,
    ) -> Reply<ListPodSandboxStatsResponse> {
        ok(ListPodSandboxStatsResponse {
            stats: self.0.list_pod_sandbox_stats(r.into_inner().filter).await,
        })
    }

    type StreamPodSandboxStatsStream = Streamed<StreamPodSandboxStatsResponse>;
    async fn stream_pod_sandbox_stats(
        &self,
        r: Request<StreamPodSandboxStatsRequest>,
    ) -> Reply<Self::StreamPodSandboxStatsStream> {
        let pod_sandbox_stats = self.0.list_pod_sandbox_stats(r.into_inner().filter).await;
        ok(once(StreamPodSandboxStatsResponse { pod_sandbox_stats }))
    }

    async fn update_runtime_config(
        &self,
        _r: Request<UpdateRuntimeConfigRequest>,
    ) -> Reply<UpdateRuntimeConfigResponse> {
        // The pod CIDR is the CNI network's business (its IPAM config), as with
        // containerd: nothing in berth depends on it.
        ok(UpdateRuntimeConfigResponse {})
    }

    async fn status(&self, r: Request<StatusRequest>) -> Reply<StatusResponse> {
        ok(self.0.status(r.into_inner().verbose))
    }

    async fn checkpoint_container(
        &self,
        _r: Request<CheckpointContainerRequest>,
    ) -> Reply<CheckpointContainerResponse> {
        Err(unimplemented(
            "CheckpointContainer",
            "checkpointing needs CRIU, which berth does not drive",
        ))
    }

    async fn checkpoint_pod(
        &self,
        _r: Request<CheckpointPodRequest>,
    ) -> Reply<CheckpointPodResponse> {
        Err(unimplemented(
            "CheckpointPod",
            "checkpointing needs CRIU, which berth does not drive",
        ))
    }

    async fn restore_pod(&self, _r: Request<RestorePodRequest>) -> Reply<RestorePodResponse> {
        Err(unimplemented(
            "RestorePod",
            "checkpointing needs CRIU, which berth does not drive",
        ))
    }

    type GetContainerEventsStream = Streamed<ContainerEventResponse>;
    async fn get_container_events(
        &self,
        _r: Request<GetEventsRequest>,
    ) -> Reply<Self::GetContainerEventsStream> {
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        self.0.container_events(tx);
        ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn list_metric_descriptors(
        &self,
        _r: Request<ListMetricDescriptorsRequest>,
    ) -> Reply<ListMetricDescriptorsResponse> {
        ok(ListMetricDescriptorsResponse {
            descriptors: crate::runtime::metrics::descriptors(),
        })
    }

    async fn list_pod_sandbox_metrics(
        &self,
        _r: Request<ListPodSandboxMetricsRequest>,
    ) -> Reply<ListPodSandboxMetricsResponse> {
        ok(ListPodSandboxMetricsResponse {
            pod_metrics: self.0.pod_sandbox_metrics().await,
        })
    }

    type StreamPodSandboxMetricsStream = Streamed<StreamPodSandboxMetricsResponse>;
    async fn stream_pod_sandbox_metrics(
        &self,
        _r: Request<StreamPodSandboxMetricsRequest>,
    ) -> Reply<Self::StreamPodSandboxMetricsStream> {
        ok(once(StreamPodSandboxMetricsResponse {
            pod_sandbox_metrics: vec![],
        }))
    }

    async fn runtime_config(
        &self,
        _r: Request<RuntimeConfigRequest>,
    ) -> Reply<RuntimeConfigResponse> {
        ok(RuntimeConfigResponse {
            linux: Some(LinuxRuntimeConfiguration {
                cgroup_driver: CgroupDriver::Cgroupfs as i32,
            }),
        })
    }

    async fn update_pod_sandbox_resources(
        &self,
        r: Request<UpdatePodSandboxResourcesRequest>,
    ) -> Reply<UpdatePodSandboxResourcesResponse> {
        // The pod's cgroup is the kubelet's (cgroupfs driver): berth has nothing of its
        // own to resize, but the pod must exist.
        let id = r.into_inner().pod_sandbox_id;
        self.0.sandboxes.get(&id)?;
        ok(UpdatePodSandboxResourcesResponse {})
    }
}

#[tonic::async_trait]
impl ImageService for Grpc {
    async fn list_images(&self, r: Request<ListImagesRequest>) -> Reply<ListImagesResponse> {
        ok(ListImagesResponse {
            images: self.0.list_images(r.into_inner().filter).await?,
        })
    }

    type StreamImagesStream = Streamed<StreamImagesResponse>;
    async fn stream_images(
        &self,
        r: Request<StreamImagesRequest>,
    ) -> Reply<Self::StreamImagesStream> {
        let images = self.0.list_images(r.into_inner().filter).await?;
        ok(once(StreamImagesResponse { images }))
    }

    async fn image_status(&self, r: Request<ImageStatusRequest>) -> Reply<ImageStatusResponse> {
        let r = r.into_inner();
        ok(self.0.image_status(r.image, r.verbose).await?)
    }

    async fn pull_image(&self, r: Request<PullImageRequest>) -> Reply<PullImageResponse> {
        let r = r.into_inner();
        let image_ref = self.0.pull_image(r.image, r.auth).await?;
        ok(PullImageResponse { image_ref })
    }

    async fn remove_image(&self, r: Request<RemoveImageRequest>) -> Reply<RemoveImageResponse> {
        self.0.remove_image(r.into_inner().image).await?;
        ok(RemoveImageResponse {})
    }

    async fn image_fs_info(&self, _r: Request<ImageFsInfoRequest>) -> Reply<ImageFsInfoResponse> {
        ok(self.0.image_fs_info().await?)
    }
}
