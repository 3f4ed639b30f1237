//! TriggerService: trigger instances, event subscriptions (a stream) and outgoing webhooks. The gRPC adapter over
//! the use cases in `crate::app`.

use switchboard_proto::v1::trigger_service_server::TriggerService;
use switchboard_proto::v1::*;
use tonic::{Request, Response, Status};

use std::pin::Pin;

use futures::{Stream, StreamExt};

use crate::app::{subscribe, triggers};
use crate::grpc::auth;
use crate::state::AppState;

pub struct TriggerApi {
    state: AppState,
}

impl TriggerApi {
    pub fn new(state: AppState) -> TriggerApi {
        TriggerApi { state }
    }
}

#[tonic::async_trait]
impl TriggerService for TriggerApi {
    type SubscribeEventsStream =
        Pin<Box<dyn Stream<Item = Result<Event, Status>> + Send + 'static>>;

    async fn create_trigger(
        &self,
        request: Request<CreateTriggerRequest>,
    ) -> Result<Response<CreateTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::create_trigger(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn get_trigger(
        &self,
        request: Request<GetTriggerRequest>,
    ) -> Result<Response<GetTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::get_trigger(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn list_triggers(
        &self,
        request: Request<ListTriggersRequest>,
    ) -> Result<Response<ListTriggersResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::list_triggers(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn enable_trigger(
        &self,
        request: Request<EnableTriggerRequest>,
    ) -> Result<Response<EnableTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::enable_trigger(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn disable_trigger(
        &self,
        request: Request<DisableTriggerRequest>,
    ) -> Result<Response<DisableTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::disable_trigger(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn delete_trigger(
        &self,
        request: Request<DeleteTriggerRequest>,
    ) -> Result<Response<DeleteTriggerResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::delete_trigger(&self.state, &project, request.into_inner()).await?,
        ))
    }

    async fn subscribe_events(
        &self,
        request: Request<SubscribeEventsRequest>,
    ) -> Result<Response<Self::SubscribeEventsStream>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        let events = subscribe::open(&self.state, &project, request.into_inner()).await?;
        Ok(Response::new(Box::pin(events.map(Ok))))
    }

    async fn create_webhook_subscription(
        &self,
        request: Request<CreateWebhookSubscriptionRequest>,
    ) -> Result<Response<CreateWebhookSubscriptionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::create_webhook_subscription(&self.state, &project, request.into_inner())
                .await?,
        ))
    }

    async fn list_webhook_subscriptions(
        &self,
        request: Request<ListWebhookSubscriptionsRequest>,
    ) -> Result<Response<ListWebhookSubscriptionsResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::list_webhook_subscriptions(&self.state, &project).await?,
        ))
    }

    async fn delete_webhook_subscription(
        &self,
        request: Request<DeleteWebhookSubscriptionRequest>,
    ) -> Result<Response<DeleteWebhookSubscriptionResponse>, Status> {
        let project = auth::project(&self.state, request.metadata()).await?;
        Ok(Response::new(
            triggers::delete_webhook_subscription(&self.state, &project, request.into_inner())
                .await?,
        ))
    }
}
