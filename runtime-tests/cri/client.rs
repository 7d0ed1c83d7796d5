//! A blocking CRI v1 client over containerd's unix socket: the gRPC calls kubelet makes, each
//! returning the response or the gRPC status (cases compare errors too). One client per
//! thread: it owns a current-thread tokio runtime that drives its connection during each call.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::Status;

/// Every call's deadline: a hung daemon fails the case instead of the whole run.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub type CriResult<T> = Result<T, Status>;

pub struct Cri {
    rt: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    image: ImageServiceClient<Channel>,
}

impl Cri {
    /// Connects to the CRI socket `socket` (containerd's gRPC address).
    pub fn connect(socket: &Path) -> Cri {
        Cri::try_connect(socket)
            .unwrap_or_else(|e| panic!("connect to CRI socket {}: {e}", socket.display()))
    }

    /// `connect` that says why it could not (for cleanup, which must not panic).
    pub fn try_connect(socket: &Path) -> Result<Cri, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let path: PathBuf = socket.to_path_buf();
        let channel = rt
            .block_on(async move {
                // The URI is required by tonic but unused: the connector dials the socket.
                Endpoint::from_static("http://cri.invalid")
                    .timeout(CALL_TIMEOUT)
                    .connect_timeout(Duration::from_secs(10))
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let path = path.clone();
                        async move {
                            let stream = tokio::net::UnixStream::connect(path).await?;
                            Ok::<_, std::io::Error>(TokioIo::new(stream))
                        }
                    }))
                    .await
            })
            .map_err(|e| e.to_string())?;
        Ok(Cri {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            image: ImageServiceClient::new(channel),
        })
    }

    fn call<T, F>(&self, fut: F) -> CriResult<T>
    where
        F: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.rt.block_on(fut).map(tonic::Response::into_inner)
    }

    fn rs(&self) -> RuntimeServiceClient<Channel> {
        self.runtime.clone()
    }

    pub fn version(&self) -> CriResult<VersionResponse> {
        self.call(self.rs().version(VersionRequest {
            version: "v1".into(),
        }))
    }

    pub fn status(&self) -> CriResult<StatusResponse> {
        self.call(self.rs().status(StatusRequest { verbose: false }))
    }

    pub fn image_status(&self, image: &str) -> CriResult<ImageStatusResponse> {
        self.call(self.image.clone().image_status(ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        }))
    }

    pub fn run_pod_sandbox(&self, config: &PodSandboxConfig, handler: &str) -> CriResult<String> {
        self.call(self.rs().run_pod_sandbox(RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.into(),
        }))
        .map(|r| r.pod_sandbox_id)
    }

    pub fn pod_sandbox_status(&self, id: &str) -> CriResult<PodSandboxStatusResponse> {
        self.call(self.rs().pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: true,
        }))
    }

    pub fn list_pod_sandbox(&self, filter: PodSandboxFilter) -> CriResult<Vec<PodSandbox>> {
        self.call(self.rs().list_pod_sandbox(ListPodSandboxRequest {
            filter: Some(filter),
        }))
        .map(|r| r.items)
    }

    pub fn stop_pod_sandbox(&self, id: &str) -> CriResult<()> {
        self.call(self.rs().stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        }))
        .map(|_| ())
    }

    pub fn remove_pod_sandbox(&self, id: &str) -> CriResult<()> {
        self.call(self.rs().remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        }))
        .map(|_| ())
    }

    pub fn create_container(
        &self,
        pod: &str,
        config: ContainerConfig,
        sandbox: &PodSandboxConfig,
    ) -> CriResult<String> {
        self.call(self.rs().create_container(CreateContainerRequest {
            pod_sandbox_id: pod.into(),
            config: Some(config),
            sandbox_config: Some(sandbox.clone()),
        }))
        .map(|r| r.container_id)
    }

    pub fn start_container(&self, id: &str) -> CriResult<()> {
        self.call(self.rs().start_container(StartContainerRequest {
            container_id: id.into(),
        }))
        .map(|_| ())
    }

    pub fn stop_container(&self, id: &str, timeout_s: i64) -> CriResult<()> {
        self.call(self.rs().stop_container(StopContainerRequest {
            container_id: id.into(),
            timeout: timeout_s,
        }))
        .map(|_| ())
    }

    pub fn remove_container(&self, id: &str) -> CriResult<()> {
        self.call(self.rs().remove_container(RemoveContainerRequest {
            container_id: id.into(),
        }))
        .map(|_| ())
    }

    pub fn container_status(&self, id: &str) -> CriResult<ContainerStatusResponse> {
        self.call(self.rs().container_status(ContainerStatusRequest {
            container_id: id.into(),
            verbose: true,
        }))
    }

    pub fn list_containers(&self, filter: ContainerFilter) -> CriResult<Vec<Container>> {
        self.call(self.rs().list_containers(ListContainersRequest {
            filter: Some(filter),
        }))
        .map(|r| r.containers)
    }

    pub fn container_stats(&self, id: &str) -> CriResult<ContainerStats> {
        self.call(self.rs().container_stats(ContainerStatsRequest {
            container_id: id.into(),
        }))
        .and_then(|r| {
            r.stats
                .ok_or_else(|| Status::not_found("no stats in the response"))
        })
    }

    pub fn list_container_stats(
        &self,
        filter: ContainerStatsFilter,
    ) -> CriResult<Vec<ContainerStats>> {
        self.call(self.rs().list_container_stats(ListContainerStatsRequest {
            filter: Some(filter),
        }))
        .map(|r| r.stats)
    }

    pub fn update_container_resources(
        &self,
        id: &str,
        linux: LinuxContainerResources,
    ) -> CriResult<()> {
        self.call(
            self.rs()
                .update_container_resources(UpdateContainerResourcesRequest {
                    container_id: id.into(),
                    linux: Some(linux),
                    windows: None,
                    annotations: Default::default(),
                }),
        )
        .map(|_| ())
    }

    pub fn reopen_container_log(&self, id: &str) -> CriResult<()> {
        self.call(self.rs().reopen_container_log(ReopenContainerLogRequest {
            container_id: id.into(),
        }))
        .map(|_| ())
    }

    /// ExecSync with a timeout in seconds (0: none).
    pub fn exec_sync(&self, id: &str, cmd: &[&str], timeout_s: i64) -> CriResult<ExecSyncResponse> {
        self.call(self.rs().exec_sync(ExecSyncRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: timeout_s,
        }))
    }
}

pub fn image_spec(image: &str) -> ImageSpec {
    ImageSpec {
        image: image.into(),
        ..Default::default()
    }
}
